"""An embedded fake of the Gemini Batch and Files REST API, served on 127.0.0.1."""

from gembatch.simulator.running import SimulatorServer
from gembatch.simulator.scenario import FaultRule, Faults, JobPlan, Scenario
from gembatch.simulator.server import SimulatorApp
from gembatch.simulator.store import Store

__all__ = [
    "FaultRule",
    "Faults",
    "JobPlan",
    "Scenario",
    "SimulatorApp",
    "SimulatorServer",
    "Store",
]
