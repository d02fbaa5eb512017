"""Intake: a person's answers sealed to the queue's caseworkers and stored; follow-ups; routing to a queue.

Used by the bot (and `waystation queue submit`); builds on storage (the stores) and crypto.
"""
