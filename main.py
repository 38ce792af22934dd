"""Chaoshou on a handheld or a desktop.

    python main.py                  the app against the configured gateway and devices
                                    (Settings: gateway URL, printer / card terminal ports)
    python main.py --demo           everything on this machine: demo gateway, simulated card
                                    terminal and printer, this device enrolled; receipts are
                                    saved as PNGs in ./demo-data/receipts
    python main.py --demo --demo-data DIR    keep the demo's files in DIR
    python main.py --demo --smoke   start the demo, wait for the login screen, save a
                                    screenshot (DIR/smoke-login.png) and exit 0
    --data DIR                      the app's data folder (default: the platform's user data dir)
"""
import argparse
import logging
import os
import sys
import time
from pathlib import Path

from terminal.ui import headless


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python main.py", description="Chaoshou field terminal")
    ap.add_argument("--demo", action="store_true", help="run with a local demo gateway and simulated devices")
    ap.add_argument("--demo-data", default="demo-data", help="folder for the demo's files")
    ap.add_argument("--smoke", action="store_true", help="start, wait for the login screen, screenshot, exit")
    ap.add_argument("--data", default=None, help="the app's data folder")
    ap.add_argument("--timeout", type=float, default=90, help="--smoke: seconds to wait")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    headless.prepare(None, headless=None if (args.smoke or not os.environ.get("DISPLAY")) else False,
                     log_level="warning")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    demo = None
    data_dir = args.data
    overrides = {}
    if args.demo or args.smoke:
        from terminal.ui.demo import Demo
        demo = Demo(Path(args.demo_data)).start()
        data_dir = data_dir or demo.device_dir
        overrides = demo.config_overrides()
        for line in demo.banner().splitlines():
            print(line, flush=True)
            logging.getLogger("chaoshou.demo").info(line)
    try:
        from kivy.clock import Clock
        from kivy.core.window import Window

        from terminal.ui.app import ChaoshouApp
        app = ChaoshouApp(data_dir, demo=demo, config_overrides=overrides,
                          worker_options={"period": 15.0} if demo else None)
        if demo is not None:
            Clock.schedule_once(lambda *_: app.notify(demo.banner(), "info", 20), 0.5)
        result = {"code": 0}
        if args.smoke:
            shot = Path(args.demo_data) / "smoke-login.png"
            frames = {"n": 0}

            def check(_dt):
                if app.sm.current == "login" and app.sm.current_screen.ids.get("keypad") is not None:
                    frames["n"] += 1
                    if frames["n"] >= 3:             # drawn a few times: really on screen
                        made = Window.screenshot(name=str(shot.with_name("smoke-shot.png")))
                        Path(made).replace(shot)
                        print(f"login screen drawn after {time.monotonic() - started:.2f} s; "
                              f"screenshot {shot}", flush=True)
                        app.stop()
                        return False
                if time.monotonic() - started > args.timeout:
                    print("smoke: the login screen did not appear", flush=True)
                    result["code"] = 1
                    app.stop()
                    return False
                return True
            Clock.schedule_interval(check, 0.05)
        app.run()
        return result["code"]
    finally:
        if demo is not None:
            demo.close()


if __name__ == "__main__":
    sys.exit(main())
