from django.urls import path

from . import blocks as b
from . import board as bo
from . import customers as cu
from . import faq as f
from . import history as h
from . import phrases as p
from . import reports as r
from . import views as v

app_name = "console"

urlpatterns = [
    path("", v.home, name="home"),
    path("list/", v.conversation_list, name="list"),
    path("rows/<int:conversation_id>/", v.conversation_row, name="row"),
    path("c/<int:conversation_id>/", v.conversation_page, name="conversation"),
    path("c/<int:conversation_id>/pane/", v.conversation_pane, name="pane"),
    path("c/<int:conversation_id>/history/", v.conversation_history, name="history"),
    path("c/<int:conversation_id>/messages/", v.message_fragment, name="messages"),
    path("c/<int:conversation_id>/state/", v.change_state, name="state"),
    path("c/<int:conversation_id>/snooze/", v.snooze, name="snooze"),
    path("customers/", cu.customer_list, name="customers"),
    path("customers/<int:customer_id>/", cu.customer_page, name="customer"),
    path("customers/<int:customer_id>/notes/", cu.add_note, name="customer-note-add"),
    path("customers/notes/<int:note_id>/delete/", cu.delete_note, name="customer-note-delete"),
    path("customers/<int:customer_id>/level/", cu.set_level, name="customer-level"),
    path("customers/<int:customer_id>/contact/", cu.contact, name="customer-contact"),
    path("customers/<int:customer_id>/tags/", v.add_tag, name="tag-add"),
    path("customers/<int:customer_id>/tags/remove/", v.remove_tag, name="tag-remove"),
    path("customers/<int:customer_id>/block/", b.block, name="customer-block"),
    path("board/", bo.board_page, name="board"),
    path("board/alerts/", bo.service_alerts, name="service-alerts"),
    path("blocks/", b.blocklist, name="blocklist"),
    path("blocks/<int:block_id>/lift/", b.lift, name="block-lift"),
    path("faq/", f.faq, name="faq"),
    path("history/", h.search, name="history-search"),
    path("history/export.csv", h.export_results, name="history-export"),
    path("history/c/<int:conversation_id>/", h.transcript, name="history-transcript"),
    path("history/c/<int:conversation_id>/export.csv", h.export_transcript, name="history-transcript-export"),
    path("reports/", r.reports_page, name="reports"),
    path("reports/<str:table>.<str:fmt>", r.export_table, name="reports-export"),
    path("phrases/", p.phrases, name="phrases"),
    path("phrases/<int:phrase_id>/use/", p.use_phrase, name="phrase-use"),
    path("phrases/manage/", p.manage_phrases, name="phrases-manage"),
    path("phrases/manage/new/", p.edit_phrase, name="phrase-new"),
    path("phrases/manage/<int:phrase_id>/", p.edit_phrase, name="phrase-edit"),
    path("phrases/manage/<int:phrase_id>/delete/", p.delete_phrase, name="phrase-delete"),
    path("settings/", v.preferences, name="preferences"),
    path("settings/offline-notify/", v.offline_notify, name="offline-notify"),
    path("onboarding/", v.onboarding, name="onboarding"),
    path("status/", v.set_status, name="status"),
]
