"""Installations (``slack.oauth``): one per workspace, in SQLite, every token encrypted at rest.

    keys = token_key(os.environ)        # a ConfigError naming BATON_TOKEN_KEY, never a traceback
    store = EncryptedInstallationStore(database="baton-installations.db", client_id=cid, key=keys)
    await store.async_save(installation)          # bot, user and refresh tokens encrypted
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0123ABCD")  # decrypted

slack_sdk's ``SQLite3InstallationStore`` does the SQL; this wrapper encrypts the secrets of an
installation (bot token, user token, both refresh tokens, the incoming webhook URL) with
Fernet before they reach it, and decrypts what it reads back. The SQLite file alone gives
no token away: the key lives only in the environment (``BATON_TOKEN_KEY``).

``BATON_TOKEN_KEY`` is one Fernet key (``Fernet.generate_key()``: 32 bytes, url-safe
base64), or several separated by commas, newest first: the first encrypts, each of them
decrypts, so a key can be rotated without reinstalling the app anywhere. A token that none
of them decrypts (the key was changed) reads as "not installed", with a warning saying so.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Mapping
from typing import TypeVar

import sqlite_utils
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from baton.probes.errors import ConfigError
from baton.probes.store.installs import enterprise_of

log = logging.getLogger("bot.installations")

TOKEN_KEY_VAR = "BATON_TOKEN_KEY"
#: What an installation holds that lets someone act as the app in a workspace.
INSTALLATION_SECRETS = (
    "bot_token",
    "bot_refresh_token",
    "user_token",
    "user_refresh_token",
    "incoming_webhook_url",
)
BOT_SECRETS = ("bot_token", "bot_refresh_token")

_MAKE_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def token_key(env: Mapping[str, str]) -> MultiFernet:
    """The key(s) in ``BATON_TOKEN_KEY``; a ConfigError (one line, no value) when unusable."""
    raw = env.get(TOKEN_KEY_VAR, "").strip()
    if not raw:
        raise ConfigError(
            f"{TOKEN_KEY_VAR} is not set: slack.oauth keeps each workspace's tokens encrypted "
            f"with it; make one with {_MAKE_KEY} and keep it as safe as the tokens"
        )
    fernets = []
    for n, part in enumerate(raw.split(","), start=1):
        try:
            fernets.append(Fernet(part.strip().encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            which = f"key {n} of {TOKEN_KEY_VAR}" if "," in raw else TOKEN_KEY_VAR
            raise ConfigError(
                f"{which} is not a Fernet key (32 bytes in url-safe base64, 44 characters); "
                f"make one with {_MAKE_KEY}"
            ) from None
    return MultiFernet(fernets)


_Record = TypeVar("_Record", Installation, Bot)


class EncryptedInstallationStore(AsyncInstallationStore):
    """``SQLite3InstallationStore`` with the tokens encrypted; see the module docstring.

    Async only (bolt's ``AsyncOAuthFlow`` and Baton's router use the ``async_`` methods).
    """

    def __init__(
        self,
        *,
        database: str,
        client_id: str,
        key: MultiFernet,
        logger: logging.Logger = log,
    ) -> None:
        self.inner = SQLite3InstallationStore(database=database, client_id=client_id, logger=logger)
        self.key = key
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    # -- writing --------------------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        # The inner store saves the bot row from this copy too: its tokens are encrypted.
        self.inner.save(self._sealed(installation, INSTALLATION_SECRETS))

    async def async_save_bot(self, bot: Bot) -> None:
        self.inner.save_bot(self._sealed(bot, BOT_SECRETS))

    def _sealed(self, record: _Record, names: tuple[str, ...]) -> _Record:
        sealed = copy.copy(record)
        for name in names:
            value = getattr(record, name, None)
            if value:
                setattr(sealed, name, self.key.encrypt(str(value).encode()).decode("ascii"))
        return sealed

    # -- reading --------------------------------------------------------------------------

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = self.inner.find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return None if found is None else self._opened(found, BOT_SECRETS, team_id)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = self.inner.find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        return None if found is None else self._opened(found, INSTALLATION_SECRETS, team_id)

    def _opened(self, record: _Record, names: tuple[str, ...], team: str | None) -> _Record | None:
        for name in names:
            value = getattr(record, name, None)
            if not value:
                continue
            try:
                setattr(record, name, self.key.decrypt(str(value).encode("ascii")).decode())
            except (InvalidToken, UnicodeError):
                self._logger.warning(
                    "the installation of workspace %s cannot be decrypted with %s (was the key "
                    "changed? keep the old one after the new: NEW,OLD); reinstall the app there",
                    team or "?",
                    TOKEN_KEY_VAR,
                )
                return None
        return record

    async def async_enterprise_of(self, team_id: str) -> str | None:
        """The Enterprise Grid organisation workspace ``team_id`` was installed under (so
        ``async_find_bot`` can be asked with it), ``None`` outside Enterprise Grid."""
        with contextlib.closing(self.inner.connect()) as conn:
            return enterprise_of(
                sqlite_utils.Database(conn), client_id=self.inner.client_id, team_id=team_id
            )

    # -- removing -------------------------------------------------------------------------

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.inner.delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        self.inner.delete_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.inner.delete_all(enterprise_id=enterprise_id, team_id=team_id)


__all__ = [
    "BOT_SECRETS",
    "INSTALLATION_SECRETS",
    "TOKEN_KEY_VAR",
    "EncryptedInstallationStore",
    "token_key",
]
