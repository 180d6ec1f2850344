"""Child process of ``execute.py``: run one notebook with nbclient.

Started by file path in the publication sandbox (``sandbox.py``; without root as the
current user); imports nothing from bif_lib (fast start, and nothing of the publisher's
process leaks in). Writes the executed notebook, or
a JSON description of the failure for the German error message. After the notebook, two
probe cells (removed from the output): one lists the top-level modules the kernel imported
(written to MODULES_JSON), which tells which front-end extensions the app needs; the other
asks for the widgets' state as an app page does when it connects (ipywidgets'
``request_states``). A state the kernel cannot send (a box whose child was closed) would keep
every planner's page from loading, so it fails the check ("kind": "widgets").

Usage: _run_notebook.py INPUT OUTPUT ERROR_JSON TIMEOUT MODULES_JSON
"""

import json
import os
import sys

import nbformat

MARKER = "__BIF_MODULES__"
PROBE = ("import sys as _bif_sys, json as _bif_json\n"
         f"print({MARKER!r} + _bif_json.dumps(sorted({{m.split('.')[0] for m in _bif_sys.modules}})))")
WIDGETS_MARKER = "__BIF_WIDGETS__"
# the widgets' whole state, as a page gets it; if that fails, the kinds of widget that cannot be sent
WIDGETS_PROBE = f"""\
import sys as _bif_sys, json as _bif_json
_bif_w = _bif_sys.modules.get("ipywidgets")
if _bif_w is not None:
    try:
        _bif_w.Widget.get_manager_state(drop_defaults=False)
    except Exception:
        _bif_bad = set()
        for _bif_x in list(_bif_sys.modules["ipywidgets.widgets.widget"]._instances.values()):
            try:
                _bif_w.Widget.get_manager_state(drop_defaults=False, widgets=[_bif_x])
            except Exception as _bif_e:
                _bif_bad.add(type(_bif_x).__name__ + " (" + type(_bif_e).__name__ + ": " + str(_bif_e)[:120] + ")")
        print({WIDGETS_MARKER!r} + _bif_json.dumps(sorted(_bif_bad)[:5]))
"""


def _main(argv: list[str]) -> int:
    """Child process: execute, write output or a JSON error description."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    source, output, error_file, timeout, modules_file = argv[0], argv[1], argv[2], int(argv[3]), argv[4]
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    nb.cells.append(nbformat.v4.new_code_cell(WIDGETS_PROBE))
    kernel = (nb.metadata.get("kernelspec") or {}).get("name") or "python3"
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=False,
                            resources={"metadata": {"path": os.path.dirname(source)}})
    current = {"cell": None}

    def on_cell_start(cell, cell_index):
        current["cell"] = cell_index + 1  # people count cells from 1

    client.on_cell_start = on_cell_start
    try:
        client.execute()
    except CellTimeoutError:
        _write_json(error_file, {"kind": "timeout", "cell": current["cell"], "timeout": timeout})
        return 1
    except CellExecutionError as e:
        _write_json(error_file, {"kind": "error", "cell": current["cell"], "ename": e.ename,
                                 "evalue": e.evalue})
        return 1
    except DeadKernelError as e:
        _write_json(error_file, {"kind": "error", "cell": current["cell"], "ename": "Kernel abgestürzt",
                                 "evalue": str(e)[:300]})
        return 1
    except Exception as e:  # noqa: BLE001 - report anything else to the publisher
        _write_json(error_file, {"kind": "error", "cell": current["cell"], "ename": type(e).__name__,
                                 "evalue": str(e)[:300]})
        return 1
    widgets_text, text = (_printed(nb.cells.pop()) for _ in range(2))
    if WIDGETS_MARKER in widgets_text:
        try:
            bad = json.loads(widgets_text.split(WIDGETS_MARKER, 1)[1])
        except ValueError:
            bad = []
        _write_json(error_file, {"kind": "widgets", "widgets": bad})
        return 1
    if MARKER in text:
        with open(modules_file, "w", encoding="utf-8") as fh:
            fh.write(text.split(MARKER, 1)[1].strip())
    nbformat.write(nb, output)
    return 0


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
