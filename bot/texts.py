"""Every message the bot sends, as English gettext message ids.

Texts are sober and neutral: the first line of each (what a notification
preview shows) says nothing that could give a person away.
"""

from __future__ import annotations

from typing import NamedTuple


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here."""
    return message


class Plural(NamedTuple):
    """A message that shows a number: its English singular and plural (gettext's ngettext picks the form)."""

    singular: str
    plural: str


def Np_(singular: str, plural: str) -> Plural:  # noqa: N802 (gettext's marker style, like N_)
    """Mark a message with a number for extraction (msgid and msgid_plural)."""
    return Plural(singular, plural)


CONSENT = Np_(
    "Hello. Before we start, please read this.\n\n"
    "• We will ask a few short questions. Your answers are encrypted and only our vetted caseworkers can read them.\n"
    "• After you send your request, you get a reference number. Keep it: only with it can you read our answers.\n"
    "• Every message in this chat, yours and ours, is deleted {minutes} minute after the last activity.\n"
    "• This chat is not end-to-end encrypted: Telegram can see it. Do not write more than you need.\n"
    "• You can delete everything now at any moment: press \"Delete this chat now\" or send /forget.\n"
    "• /cancel stops at any point; nothing is sent until you confirm.",
    "Hello. Before we start, please read this.\n\n"
    "• We will ask a few short questions. Your answers are encrypted and only our vetted caseworkers can read them.\n"
    "• After you send your request, you get a reference number. Keep it: only with it can you read our answers.\n"
    "• Every message in this chat, yours and ours, is deleted {minutes} minutes after the last activity.\n"
    "• This chat is not end-to-end encrypted: Telegram can see it. Do not write more than you need.\n"
    "• You can delete everything now at any moment: press \"Delete this chat now\" or send /forget.\n"
    "• /cancel stops at any point; nothing is sent until you confirm."
)
BUTTON_CONTINUE = N_("Continue")
BUTTON_LANGUAGE = N_("Language")
BUTTON_DELETE_NOW = N_("Delete this chat now")
BUTTON_SKIP = N_("Skip")
BUTTON_SUBMIT = N_("Send")
BUTTON_CHANGE = N_("Change: {question}")
BUTTON_CANCEL = N_("Cancel")
BUTTON_START = N_("Start again")
CHOOSE_LANGUAGE = N_("Choose a language.")
QUESTION_PROGRESS = N_("Question {number} of {total}")
ANSWER_TOO_LONG = N_("That is too long. Please use at most {limit} characters.")
ANSWER_EMPTY = N_("Please write a short answer, or use the buttons.")
USE_BUTTONS = N_("Please choose one of the buttons above.")
REVIEW = N_("Please check your answers. Nothing has been sent yet.")
SKIPPED = N_("(skipped)")
SUBMITTED = Np_(
    "Thank you. Your request has been received.\n\n"
    "Your reference: {reference}\n"
    "Keep it: only with it can you read our answers. You can save it as a phone number among your contacts. "
    "Send it to this bot later to read our answers or to add information.\n\n"
    "This chat will be deleted in {minutes} minute.",
    "Thank you. Your request has been received.\n\n"
    "Your reference: {reference}\n"
    "Keep it: only with it can you read our answers. You can save it as a phone number among your contacts. "
    "Send it to this bot later to read our answers or to add information.\n\n"
    "This chat will be deleted in {minutes} minutes."
)
SUBMIT_FAILED = N_("Sorry, we cannot take your request right now. Nothing was kept. Please try again later.")
CANCELLED = Np_("Cancelled. Nothing was sent. This chat will be deleted in {minutes} minute.",
                "Cancelled. Nothing was sent. This chat will be deleted in {minutes} minutes.")
FORM_EXPIRED = N_("This form is no longer active and nothing was sent. Please start again.")
ONLY_TEXT = N_("Please send text only. Photos, files, stickers and voice messages are not kept and will be deleted.")
UNKNOWN_COMMAND = N_("Unknown command. Use /start to begin, /cancel to stop, /forget to delete this chat.")
SLOW_DOWN = N_("Please slow down a little.")
MESSAGE_TOO_LONG = N_("That message is too long.")

COMMAND_START = N_("Start")
COMMAND_CANCEL = N_("Cancel")
COMMAND_FORGET = N_("Delete this chat")

# Replies from caseworkers (read with the reference) and follow-ups from the person.
NEW_MESSAGE = N_("You have a new message.")
BUTTON_SHOW = N_("Show")
BUTTON_FOLLOW_UP = N_("I have a reference")
FOLLOW_UP_ASK_REFERENCE = N_("Please send your 16-digit reference.")
FOLLOW_UP_ASK_TEXT = N_("Please write what you want to add. Keep it short and do not write the names of other people.")
FOLLOW_UP_DONE = Np_(
    "Thank you. If the reference is right, your message has been added. "
    "This chat will be deleted in {minutes} minute.",
    "Thank you. If the reference is right, your message has been added. "
    "This chat will be deleted in {minutes} minutes.",
)

# Volunteers (alerts issue): content-free notifications.
VOLUNTEER_WELCOME = N_("You will now receive alerts for: {queues}.")
ALERT = N_("New request {short_ref} in queue {queue}.")
ALERT_REMINDER = N_("Still waiting: request {short_ref} in queue {queue} has not been picked up.")
BUTTON_ON_IT = N_("I'm on it")
ALERT_TAKEN_BY_YOU = N_("You took request {short_ref}. Thank you.")
ALERT_TAKEN = N_("Request {short_ref} has been taken.")
DIGEST = N_("Daily summary for {queue}: {new} new, {claimed} claimed, {closed} closed. Oldest unclaimed: {oldest}.")
DIGEST_NONE_WAITING = N_("none")
AGE_MINUTES = N_("{count} min")
AGE_HOURS = N_("{count} h")
AGE_DAYS = N_("{count} d")
# Admin notices (volunteers enrolled with --admin-notices): counts only.
NOTICE_PURGE = Np_("{count} closed request will be deleted on {date}.",
                   "{count} closed requests will be deleted on {date}.")
NOTICE_UNCLAIMED = Np_("{count} request has been waiting more than {days} days without being picked up.",
                       "{count} requests have been waiting more than {days} days without being picked up.")
# Admin notices about the roster and who can read the open cases (bot/alerting/rosterwatch.py): dates, counts, queues.
NOTICE_ROSTER_EXPIRING = N_("The roster expires on {date} (in {days} d). An admin must renew it: waystation roster renew")  # noqa: E501 (a msgid: changing it orphans every translation)
NOTICE_MEMBERS_EXPIRING = Np_(
    "{count} roster member expires soon, on {date}. An admin must extend it: "
    "waystation roster renew --members",
    "{count} roster members expire soon, the first on {date}. An admin must extend them: "
    "waystation roster renew --members",
)
NOTICE_ROSTER_GRACE = N_(
    "The roster expired on {date}. Staff cannot sign in, and new requests are encrypted to the caseworkers of that "
    "day only until {until}, then refused. An admin must renew it now: waystation roster renew"
)
NOTICE_ROSTER_EXPIRED = N_(
    "The roster expired and its grace period ended on {date}: every new request is refused. "
    "An admin must renew it now: waystation roster renew"
)
NOTICE_ROSTER_INVALID = N_("The roster does not verify: every new request is refused. An admin must run: waystation doctor")  # noqa: E501 (a msgid: changing it orphans every translation)
NOTICE_UNREADABLE = Np_(
    "{count} open request cannot be read by any active caseworker. An admin must run: waystation doctor",
    "{count} open requests cannot be read by any active caseworker. An admin must run: waystation doctor",
)
NOTICE_THIN_QUEUE = N_(
    "Queue {queue} has fewer than two active caseworkers: if one key is lost, its new requests cannot be read."
)
NOTICE_ONE_ADMIN = N_(
    "The roster has fewer than two active admins: if that key is lost, nobody can change the roster or open the "
    "backups."
)
NOTICE_DOCTOR = N_("The server check found problems: {errors} errors, {warnings} warnings ({checks}). "
                   "An admin should run waystation doctor on the server.")

# The sealed form (bot/webform): the chat's button to open it, and the page's own texts.
CONSENT_SEALED = Np_(
    "Hello. Before we start, please read this.\n\n"
    "• Press \"Open the form\": it opens inside Telegram and encrypts your answers on your phone, so Telegram "
    "cannot read them. Only our vetted caseworkers can.\n"
    "• After you send your request, you get a reference number. Keep it: only with it can you read our answers.\n"
    "• Every message in this chat is deleted {minutes} minute after the last activity. The form keeps nothing on "
    "your phone.\n"
    "• If the form does not open, you can answer in this chat instead, but Telegram can see the chat.\n"
    "• You can delete everything now at any moment: press \"Delete this chat now\" or send /forget.",
    "Hello. Before we start, please read this.\n\n"
    "• Press \"Open the form\": it opens inside Telegram and encrypts your answers on your phone, so Telegram "
    "cannot read them. Only our vetted caseworkers can.\n"
    "• After you send your request, you get a reference number. Keep it: only with it can you read our answers.\n"
    "• Every message in this chat is deleted {minutes} minutes after the last activity. The form keeps nothing on "
    "your phone.\n"
    "• If the form does not open, you can answer in this chat instead, but Telegram can see the chat.\n"
    "• You can delete everything now at any moment: press \"Delete this chat now\" or send /forget.",
)
BUTTON_OPEN_FORM = N_("Open the form")
BUTTON_CHAT_FORM = N_("Answer in this chat instead")
PAGE_TITLE = N_("Request for help")
PAGE_INTRO = N_("Your answers are encrypted on this phone before they are sent: only our vetted caseworkers can "
                "read them. Nothing is kept on this phone.")
BUTTON_NEXT = N_("Next")
BUTTON_BACK = N_("Back")
BUTTON_CLOSE = N_("Close")
PAGE_ANSWER_EMPTY = N_("Please write a short answer.")
PAGE_WORKING = N_("Please wait…")
PAGE_SUBMITTED = N_(
    "Thank you. Your request has been received.\n\n"
    "Your reference: {reference}\n"
    "Keep it: only with it can you read our answers. You can save it as a phone number among your contacts. "
    "Open this form again and press \"I have a reference\" to read our answers or to add information."
)
PAGE_ASK_REFERENCE = N_("Please enter your 16-digit reference.")
PAGE_REFERENCE_LABEL = N_("Reference")
PAGE_NO_REPLIES = N_("There is no new message for this reference.")
PAGE_REPLY_HEADING = N_("Message from our caseworkers:")
PAGE_FOLLOW_UP_DONE = N_("Thank you. If the reference is right, your message has been added.")
PAGE_NOT_IN_TELEGRAM = N_("Please open this form from the button in the Telegram chat.")
PAGE_WIPED = N_("Everything is deleted. You can close this.")
