"""What the monitor screen's collaborators (`JobActions`, `News`, `ViewControls`) share:
the screen that holds them, seen through a Protocol so that none imports the screen, and
its table and log."""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from textual.app import App

from gembatch.tui.widgets.event_log import EventLog
from gembatch.tui.widgets.job_table import JobTable


class MonitorView(Protocol):
    """What every collaborator uses of the monitor; each adds what it needs besides."""

    @property
    def app(self) -> App[Any]: ...
    @property
    def table(self) -> JobTable: ...
    @property
    def event_log(self) -> EventLog: ...

    def notify(self, *args: Any, **kwargs: Any) -> None: ...


M = TypeVar("M", bound=MonitorView)


class MonitorPart(Generic[M]):
    """One part of the monitor's work, held by the monitor screen."""

    def __init__(self, monitor: M) -> None:
        self.monitor = monitor

    @property
    def table(self) -> JobTable:
        return self.monitor.table

    @property
    def event_log(self) -> EventLog:
        return self.monitor.event_log
