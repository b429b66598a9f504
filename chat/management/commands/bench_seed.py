"""Seed a benchmark database and write the credentials the load client needs (JSON).

Every customer gets an open conversation (through the real send action) so the
measured phase sends into existing conversations; agents get login sessions."""

import json

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand
from django.db import transaction
from guardian.shortcuts import assign_perm

from accounts.models import Membership, Role, Workspace
from chat import access, identity
from chat import messages as chat_messages
from chat.models import Inbox


class Command(BaseCommand):
    help = "Create benchmark data: K inboxes, M agents (spread over inboxes), N customers with open conversations."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True)
        parser.add_argument("--agents", type=int, required=True)
        parser.add_argument("--inboxes", type=int, required=True)
        parser.add_argument("--out", required=True)

    def handle(self, *args, customers, agents, inboxes, out, **options):
        User = get_user_model()
        with transaction.atomic():
            workspace = Workspace.objects.create(name="Bench", slug="bench")
            inbox_rows = [Inbox.objects.create(workspace=workspace, name=f"Bench inbox {i}") for i in range(inboxes)]
            agent_rows = []
            for i in range(agents):
                user = User.objects.create(username=f"bench-agent-{i}")
                Membership.objects.create(workspace=workspace, user=user, role=Role.AGENT, display_name=f"Agent {i}")
                inbox = inbox_rows[i % inboxes]
                assign_perm("chat.reply_in_inbox", user, inbox)
                session = SessionStore()
                session[SESSION_KEY] = str(user.pk)
                session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
                session[HASH_SESSION_KEY] = user.get_session_auth_hash()
                session.create()
                agent_rows.append({"session": session.session_key, "inbox_id": inbox.pk})
        customer_rows = []
        for i in range(customers):
            inbox = inbox_rows[i % inboxes]
            customer, inbox, token = identity.open_customer_session(inbox.public_key)
            message, _ = chat_messages.send_message(access.customer_actor(customer, inbox.pk), client_msg_id="seed", body="hello")
            customer_rows.append({"token": token, "inbox_id": inbox.pk, "conversation_id": message.conversation_id})
        with open(out, "w") as fh:
            json.dump({"customers": customer_rows, "agents": agent_rows}, fh)
        self.stdout.write(f"seeded {customers} customers, {agents} agents, {inboxes} inboxes")
