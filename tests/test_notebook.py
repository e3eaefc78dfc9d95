"""A notebook run by a real Jupyter kernel (nbclient + ipykernel): `Run.map` in a cell
shows its progress as one display that updates in place, ends by itself when all is
done, and hands back every answer. The notebook's own event loop is running while the
cell blocks, as it is for every notebook user."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from gembatch.simulator import SimulatorServer
from tests.conftest import API_KEY

CELLS = [
    "import gembatch",
    """\
run = gembatch.Run("job-info.jsonl", api_key={key!r}, base_url={url!r}, interval=0.05)
answers = run.map([f"question {{n}}" for n in range(30)])
print(len(answers), sum(a.ok for a in answers), answers[29].text)""",
    "print(run.stats.done, run.stats.finished)",
]


def test_a_notebook_shows_progress_and_ends(sim: SimulatorServer, tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(cell.format(key=API_KEY, url=sim.base_url)) for cell in CELLS
    ]
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    outputs = notebook.cells[1].outputs
    displays = [o for o in outputs if o.output_type == "display_data"]
    assert len(displays) == 1, "one display, updated in place, not one per update"
    shown = displays[0].data
    assert "<progress" in shown["text/html"]
    assert shown["text/plain"].startswith("map: 100% · 30/30 requests · 1 of 1 job done")
    assert shown["text/plain"].endswith("· done")
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    assert printed.strip() == "30 30 Simulated answer to: question 29"
    assert not [o for o in outputs if o.output_type == "error"]
    stats = "".join(o.text for o in notebook.cells[2].outputs if o.output_type == "stream")
    assert stats.split() == ["30", "True"]
