from django.urls import path

from . import phrases as p
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
    path("customers/<int:customer_id>/tags/", v.add_tag, name="tag-add"),
    path("customers/<int:customer_id>/tags/remove/", v.remove_tag, name="tag-remove"),
    path("phrases/", p.phrases, name="phrases"),
    path("phrases/<int:phrase_id>/use/", p.use_phrase, name="phrase-use"),
    path("phrases/manage/", p.manage_phrases, name="phrases-manage"),
    path("phrases/manage/new/", p.edit_phrase, name="phrase-new"),
    path("phrases/manage/<int:phrase_id>/", p.edit_phrase, name="phrase-edit"),
    path("phrases/manage/<int:phrase_id>/delete/", p.delete_phrase, name="phrase-delete"),
    path("settings/", v.preferences, name="preferences"),
    path("status/", v.set_status, name="status"),
]
