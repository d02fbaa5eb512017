"""Operations on a server home: backup and restore, key rotations, the health check (doctor) and its notices.

Run by the `waystation` commands (and the monitoring timer), never by the bot's own process:
opening a server loads none of this.
"""
