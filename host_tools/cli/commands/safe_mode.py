"""`ember safe-mode install|enter|leave|status`: the boot guard and crash-loop recovery."""

from __future__ import annotations

import json

from host_tools.cli.context import Context

ACTIONS = ("install", "uninstall", "enter", "leave", "status")


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
        if result is None:
            print("a boot.py that is not ember's is on the board: left alone")
        else:
            print(f"boot guard installed as /boot.py: {safe_mode.HEALTHY}; after "
                  f"{safe_mode.guard_limit()} boots in a row that are not, main.py is set "
                  "aside (`ember safe-mode leave` puts it back, `uninstall` removes the guard)")
    elif action == "uninstall":
        removed = safe_mode.uninstall_boot_guard(link)
        print("boot guard removed (main.py is in place)" if removed else
              "no ember boot guard on the board: /boot.py left alone")
    elif action == "leave":
        restored = safe_mode.leave_safe_mode(link)
        print("main.py restored" if restored else "not in safe mode")
    else:
        status = safe_mode.safe_mode_report(link)
        print(json.dumps(status.as_json()) if ctx.args.json else status.words())
    return 0
