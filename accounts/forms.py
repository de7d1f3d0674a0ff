from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import Role


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "That username or email and password do not match. Passwords are case-sensitive."
        ),
    }
    username = forms.CharField(
        label="Username or email",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.TypedChoiceField(choices=Role.choices, coerce=int, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.TypedChoiceField(choices=Role.choices, coerce=int)
