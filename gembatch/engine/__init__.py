"""The poll engine: its loop, the steps after the checks, the queue, cleanup, actions, events."""
