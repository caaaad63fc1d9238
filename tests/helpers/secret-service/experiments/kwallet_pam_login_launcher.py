# Ad-hoc experiment kept for reference (ran inside dbus-run-session with a private HOME;
# paths assume the old scratch layout). See README.md for what it showed.
# launch kwalletd5 --pam-login <hash-pipe-fd> <env-socket-fd> like pam_kwallet5 does
import hashlib, os, socket, subprocess, sys, time
datadir = os.environ["XDG_DATA_HOME"]
salt = open(os.path.join(datadir, "kwalletd", "kdewallet.salt"), "rb").read()
key = hashlib.pbkdf2_hmac("sha512", b"pw", salt, 50000, 56)
r, w = os.pipe()
sockpath = os.path.join(os.environ["XDG_RUNTIME_DIR"], "kw-env.sock")
if os.path.exists(sockpath): os.unlink(sockpath)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srv.bind(sockpath); srv.listen(1)
env = dict(os.environ, PAM_KWALLET5_LOGIN="1")
p = subprocess.Popen(["kwalletd5", "--pam-login", str(r), str(srv.fileno())], pass_fds=(r, srv.fileno()), env=env, stdout=open("kwpam.log", "w"), stderr=subprocess.STDOUT)
os.close(r); os.write(w, key); os.close(w)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(sockpath)
c.sendall(("DBUS_SESSION_BUS_ADDRESS=%s\n" % os.environ["DBUS_SESSION_BUS_ADDRESS"]).encode()); c.close()
srv.close()
print(p.pid, flush=True)
