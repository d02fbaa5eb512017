"""Texts of cover mode and of the last message of every intake chat, as English gettext ids.

They live in their own catalogue (bot/locale/*/LC_MESSAGES/cover.po, domain "cover"),
extracted by scripts/extract_messages.py like bot/texts.py. Every first line is one a
stranger glancing at a notification or a chat list could read without learning anything.
"""

from __future__ import annotations

from bot.texts import N_

DOMAIN = "cover"

# The time-zone cover ([cover] utility = "timezone").
TIMEZONE_NAME = N_("World Clock")
TIMEZONE_SHORT = N_("Shows the time anywhere and converts times between time zones.")
TIMEZONE_HELP = N_(
    "Send a city or a time zone to see the time there, for example: Tokyo\n"
    "Send a time and two places to convert it, for example: 15:30 Berlin New York"
)
# The unit cover ([cover] utility = "units").
UNITS_NAME = N_("Unit Converter")
UNITS_SHORT = N_("Converts lengths, weights, temperatures, volumes and speeds.")
UNITS_HELP = N_("Send a number, its unit and the unit you want, for example: 5 km mi, 70 kg lb or 30 C F.")
# Either cover.
NOT_UNDERSTOOD = N_("Sorry, I did not understand that.")
ONLY_TEXT = N_("Please send text.")
COMMAND_START = N_("Start")
COMMAND_HELP = N_("How to use")

# The last message after submit, cancel, /forget and "Delete this chat now" (deleted soon like every other).
LEAVE_NO_TRACE = N_(
    # The first line is what a locked phone's notification shows: nothing in it may point to help.
    "You can also remove this chat from your chat list. This is safe: nothing is lost.\n\n"
    "Android: press and hold the chat in the chat list, tap the bin icon, then Delete.\n"
    "iPhone: swipe the chat to the left in the chat list, tap Delete, then confirm.\n"
    "Computer: right-click the chat in the chat list and choose Delete chat."
)
