"""Log in with a username or an email address."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username and "@" in username:
            user_model = get_user_model()
            user = user_model.objects.filter(email__iexact=username.strip()).first()
            if user is None:
                # Spend the same time as a real check, so timing does not reveal who exists.
                user_model().set_password(password)
                return None
            if user.check_password(password) and self.user_can_authenticate(user):
                return user
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
