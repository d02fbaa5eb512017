"""`waystation staff tui`: the terminal inbox (Textual) over a staff.desk.Desk, remote or direct."""

from staff.desk import Desk, RemoteDesk
from staff.tui.app import Inbox, unsafe_environment
from staff.tui.desk import DeskThread

__all__ = ["Desk", "DeskThread", "Inbox", "RemoteDesk", "unsafe_environment"]
