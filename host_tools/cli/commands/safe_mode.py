"""`ember safe-mode install|enter|leave|status`: the boot guard and crash-loop recovery."""

from __future__ import annotations

import json

from host_tools.cli.context import Context

ACTIONS = ("install", "enter", "leave", "status")


def cmd_safe_mode(ctx: Context) -> int:
    from host_tools.install import safe_mode

    action = ctx.args.action
    if action == "enter":
        safe_mode.enter_safe_mode(ctx.port)  # Ctrl-C through the resets: no Link opened first
        print("safe mode: main.py set aside; `ember safe-mode leave` puts it back")
        return 0
    link = ctx.link
    if action == "install":
        result = safe_mode.install_boot_guard(link)
        print("boot guard installed as /boot.py" if result is not None else
              "a boot.py that is not ember's is on the board: left alone")
    elif action == "leave":
        restored = safe_mode.leave_safe_mode(link)
        print("main.py restored" if restored else "not in safe mode")
    else:
        safe, boots = safe_mode.safe_mode_status(link)
        print(json.dumps({"safe_mode": safe, "boots_not_healthy": boots}))
    return 0
