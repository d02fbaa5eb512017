"""`waystation staff tui`: the terminal inbox (Textual) over the remote or direct staff client."""

from staff.tui.app import Inbox, unsafe_environment
from staff.tui.desk import Desk, DeskThread, DirectDesk, RemoteDesk

__all__ = ["Desk", "DeskThread", "DirectDesk", "Inbox", "RemoteDesk", "unsafe_environment"]
