"""The pages a person sees while installing the app (installable mode): "Add to Slack", installed, failed."""

from __future__ import annotations

from html import escape

from bot.models.installations import SlackInstallation

# Bolt's failure reasons, in words, with what to do.
_FAILURES: dict[str, str] = {
    "access_denied": "The install was cancelled in Slack, so nothing was installed.",
    "invalid_browser": (
        "This install link was opened in another browser than the one that started it (or its cookie was "
        "blocked), so it cannot be trusted."
    ),
    "invalid_state": "This install link has expired or was already used, so it cannot be used again.",
    "missing_code": "Slack did not send the code that completes the install.",
    "invalid_code": "Slack did not accept the install's code (it may have been used already, or expired).",
    "internal_error": "The bot failed while completing the install; its log says why. Ask the bot's operator.",
    "storage_error": "The installation could not be saved in the bot's database. Ask the bot's operator to check it.",
}
_AGAIN = "Start again from the install page: it makes a fresh link."


# Answered (through the response URL) to a command or click from a workspace without an installation.
NOT_INSTALLED_TEXT = (
    "recording-bot is not installed in this workspace (or was removed from it), so it cannot act here. "
    "Ask a Slack admin to install it from the bot's install page (/slack/install on the bot's host)."
)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.5}</style>"
        f"</head><body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def install_page(authorize_url: str) -> str:
    link = escape(authorize_url, quote=True)
    return _page(
        "Install recording-bot",
        "<p>recording-bot pauses and resumes call recordings with a team lead's approval, from Slack.</p>"
        f'<p><a href="{link}"><img alt="Add to Slack" height="40" width="139" '
        'src="https://platform.slack-edge.com/img/add_to_slack.png"></a></p>'
        "<p>You choose the workspace (or, as an organisation admin, the organisation) on Slack's page.</p>",
    )


def installed_page(installation: SlackInstallation) -> str:
    where = (
        f"the organisation <strong>{escape(installation.name)}</strong>"
        if installation.is_enterprise_install
        else f"the workspace <strong>{escape(installation.name)}</strong>"
    )
    admin = (
        "<p>You are the first admin of its allow-list: add the others with <code>/recording allow</code>.</p>"
        if installation.installer_user_id
        else ""
    )
    return _page(
        "recording-bot is installed",
        f"<p>recording-bot is installed in {where}.</p>{admin}"
        "<p>Next: in Slack, type <code>/recording help</code> to see what it does.</p>",
    )


def install_failed_page(reason: str) -> str:
    what = _FAILURES.get(reason, f"Slack answered the install with an error ({escape(reason)}).")
    return _page("recording-bot was not installed", f"<p>{escape(what)}</p><p>{_AGAIN}</p>")
