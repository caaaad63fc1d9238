# Ad-hoc experiment kept for reference (ran inside dbus-run-session with a private HOME;
# paths assume the old scratch layout). See README.md for what it showed.
import sys, time, subprocess
sys.path.insert(0, "../..")
import sscheck as S
import dbus, dbus.mainloop.glib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.SessionBus()
svc = bus.get_object(S.BUS, S.SPATH)
cp = "/org/freedesktop/secrets/collection/db"
cprops = dbus.Interface(bus.get_object(S.BUS, cp), S.PROPS)
L = lambda: bool(cprops.Get(S.CI, "Locked"))
helper = sys.argv[1]
mode = sys.argv[2]
for rnd in range(3):
    _, p = svc.Lock([cp], dbus_interface=S.SI)
    print("lock", rnd, S.run_prompt(bus, p, 5), "Locked=", L())
    _, p = svc.Unlock([cp], dbus_interface=S.SI)
    if mode == "helper":
        print("unlock", rnd, S.run_prompt(bus, p, 5, helper), "Locked=", L())
    else:
        print("unlock-dismiss", rnd, S.run_prompt(bus, p, 3), "Locked=", L())
        subprocess.call(helper, shell=True); S.pump(1)
        print("after helper Locked=", L())
