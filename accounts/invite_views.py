"""The page behind an invitation link: create an account (or join with the one you are
logged in with, or set the first password of an account created in bulk)."""

from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth.password_validation import validate_password
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from helpdesk.errors import DomainError

from . import actions


def invite_url(request, secret):
    return request.build_absolute_uri(reverse("accounts:invite-accept", args=[secret]))


class PasswordFields(forms.Form):
    password1 = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("Password again"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") != cleaned.get("password2"):
            raise forms.ValidationError(_("The two passwords differ."))
        if cleaned.get("password1"):
            validate_password(cleaned["password1"], user=getattr(self, "user_for_validation", None))
        return cleaned


class NewAccountForm(PasswordFields):
    username = forms.RegexField(label=_("Username"), max_length=150, regex=r"^[\w.@+-]+$",
                                widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    field_order = ["username", "password1", "password2"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is taken."))
        return username


@never_cache
@sensitive_post_parameters("password1", "password2")
def accept(request, secret):
    try:
        invite = actions.find_invite(secret)
    except DomainError as exc:
        return render(request, "accounts/invite_invalid.html", {"error": exc.message}, status=exc.status)
    joining_as_self = request.user.is_authenticated and invite.for_user_id is None
    form_class = None if joining_as_self else (PasswordFields if invite.for_user_id else NewAccountForm)
    form = form_class(request.POST or None) if form_class else None
    if form is not None and invite.for_user_id:
        form.user_for_validation = invite.for_user
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            if joining_as_self:
                membership = actions.accept_invite(secret, user=request.user)
            elif invite.for_user_id:
                membership = actions.accept_invite(secret, password=form.cleaned_data["password1"])
            else:
                membership = actions.accept_invite(secret, username=form.cleaned_data["username"], password=form.cleaned_data["password1"])
        except DomainError as exc:
            return render(request, "accounts/invite_invalid.html", {"error": exc.message}, status=exc.status)
        if not joining_as_self:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("accounts:home")
    return render(request, "accounts/invite_accept.html", {"invite": invite, "form": form, "joining_as_self": joining_as_self})
