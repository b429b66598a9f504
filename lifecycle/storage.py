"""The sweep of uploads nobody used: a file stored by POST /api/v1/uploads that no message and no
quick phrase refers to UPLOADS["UNATTACHED_HOURS"] after it was stored is deleted from storage
(default_storage: the local folder or the S3 bucket; rows keep storage names, to which attachment
urls map with chat.uploads.url_path), which gives its bytes back to the workspace's quota. Run by
the worker loop with the hourly pruning.

A file found referenced is marked `attached` and kept for good; only rows the sweep has never
seen referenced are candidates, so a file is never deleted while something shows it."""

from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from chat.models import Message, StoredUpload
from chat.uploads import url_path
from replies.models import QuickPhrase


def _paths_in(attachments):
    """Storage names of the uploads one attachment list (or phrase attachment) refers to."""
    items = attachments if isinstance(attachments, list) else [attachments]
    for item in items:
        if isinstance(item, dict):
            for key in ("url", "image"):
                path = url_path(item.get(key))
                if path:
                    yield path


def _referenced(candidates):
    """The candidates' paths that a message or quick phrase of their workspaces refers to. A message
    can only refer to a file stored before it: messages older than the oldest candidate are skipped."""
    workspace_ids = {c.workspace_id for c in candidates}
    since = min(c.created_at for c in candidates)
    found = set()
    messages = (Message.objects.filter(conversation__workspace_id__in=workspace_ids, created_at__gte=since)
                .exclude(attachments=[]).values_list("attachments", flat=True))
    for attachments in messages.iterator(chunk_size=500):
        found.update(_paths_in(attachments))
    phrases = QuickPhrase.objects.filter(workspace_id__in=workspace_ids).exclude(attachment={}).values_list("attachment", flat=True)
    for attachment in phrases.iterator(chunk_size=500):
        found.update(_paths_in(attachment))
    return found


def sweep_unattached_uploads(now=None, batch=500, stop=None):
    """Delete the files (and rows) of uploads still unreferenced after the grace period. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.UPLOADS["UNATTACHED_HOURS"])
    deleted = 0
    while stop is None or not stop.is_set():
        candidates = list(StoredUpload.objects.filter(attached=False, created_at__lt=cutoff).order_by("created_at", "pk")[:batch])
        if not candidates:
            break
        referenced = _referenced(candidates)
        keep = [c.pk for c in candidates if c.path in referenced]
        if keep:
            StoredUpload.objects.filter(pk__in=keep).update(attached=True)
        for upload in candidates:
            if upload.path not in referenced:
                default_storage.delete(upload.path)  # first the file: a row left behind is swept again
                upload.delete()
                deleted += 1
        if len(candidates) < batch:
            break
    return deleted
