"""The poll engine: its loop, chores, queue, cleanup, actions, events and work list."""
