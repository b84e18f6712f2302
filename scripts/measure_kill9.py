"""Issue 11, item 14, measured: kill -9 the gateway during a signed SMS load (50 senders, a
fake Rasa that takes 1.5 s), start it again, send Twilio's retries of what got no HTTP
answer, wait for the sweep. Every MessageSid must get exactly one answer (TwiML or outbox).

    .venv/bin/python -m scripts.measure_kill9                      # SQLite in a temp dir
    .venv/bin/python -m scripts.measure_kill9 postgresql+psycopg://postgres@127.0.0.1/<empty db>
"""
import json, os, signal, subprocess, sys, tempfile, threading, time, xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import httpx, sqlalchemy as sa
from twilio.request_validator import RequestValidator
from scripts.stack import REPO_ROOT, free_port
from gateway.db import upgrade_database

DB_URL = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tempfile.mkdtemp())/'rl.db'}"
TOKEN = "kill9-twilio-token"

class Rasa(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        time.sleep(1.5)
        out = json.dumps([{"recipient_id": body["sender"], "custom": {"text": "answer", "response": "utter_greet"}}]).encode()
        self.send_response(200); self.send_header("content-type", "application/json"); self.send_header("content-length", str(len(out))); self.end_headers(); self.wfile.write(out)
    def do_GET(self):
        out = b"{}"
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(out)

rasa_port = free_port()
server = ThreadingHTTPServer(("127.0.0.1", rasa_port), Rasa)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = free_port()
base = f"http://127.0.0.1:{port}"
upgrade_database(DB_URL)
env = {**os.environ, "RIGHTSLINE_ENVIRONMENT": "test", "RIGHTSLINE_DATABASE_URL": DB_URL,
       "RIGHTSLINE_RASA_PORT": str(rasa_port), "RIGHTSLINE_PUBLIC_BASE_URL": base,
       "RIGHTSLINE_TWILIO_AUTH_TOKEN": TOKEN, "RIGHTSLINE_DETECT_LANGUAGE": "false",
       "RIGHTSLINE_TURN_SWEEP_SECONDS": "1", "RIGHTSLINE_LOG_LEVEL": "WARNING"}
def start():
    p = subprocess.Popen([sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory", "--port", str(port), "--no-access-log"],
                         cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200: return p
        except httpx.HTTPError: pass
        time.sleep(0.1)
    raise SystemExit("gateway did not start")

def post(i):
    params = {"MessageSid": f"SM{i:032d}", "From": f"+4670{i:07d}", "To": "+46700000000", "Body": f"hej {i}", "NumMedia": "0"}
    sig = RequestValidator(TOKEN).compute_signature(base + "/sms/twilio/inbound", params)
    try:
        r = httpx.post(base + "/sms/twilio/inbound", data=params, headers={"X-Twilio-Signature": sig}, timeout=15)
        return i, r.status_code, [m.text for m in ET.fromstring(r.text).findall("Message")] if r.status_code == 200 else []
    except httpx.HTTPError as e:
        return i, type(e).__name__, []

gw = start()
N = 50
with ThreadPoolExecutor(N) as pool:
    futures = [pool.submit(post, i) for i in range(N)]
    probe = sa.create_engine(DB_URL)
    while True:  # kill when turns are in flight: messages stored, answers not yet
        with probe.connect() as c:
            stored_now = c.execute(sa.text("select count(*) from message where direction='inbound'")).scalar()
        if stored_now >= N // 2:
            break
        time.sleep(0.02)
    os.kill(gw.pid, signal.SIGKILL); gw.wait()
    print(f"killed with {stored_now} messages stored")
    first = [f.result() for f in futures]
answers = {i: len(texts) for i, _, texts in first}
failed = [i for i, code, _ in first if code != 200]
print(f"first delivery: {N - len(failed)} answered by HTTP, {len(failed)} lost with the killed process")
gw = start()
t0 = time.monotonic()
with ThreadPoolExecutor(N) as pool:
    retries = list(pool.map(post, failed))
for i, code, texts in retries:
    answers[i] += len(texts)
print(f"Twilio's retries: {sum(1 for _, _, t in retries if t)} answered by TwiML, {sum(1 for _, _, t in retries if not t)} empty (lease still held)")
engine = sa.create_engine(DB_URL)
def outbox_by_conv():
    with engine.connect() as c:
        rows = c.execute(sa.text("select c.sender_hash, count(o.id) from conversation c left join outbox_message o on o.conversation_id = c.id group by c.id, c.sender_hash")).all()
        waiting = c.execute(sa.text("select count(*) from message where awaiting_reply")).scalar()
    return rows, waiting
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    rows, waiting = outbox_by_conv()
    if waiting == 0: break
    time.sleep(1)
with engine.connect() as c:
    outbox = dict(c.execute(sa.text("select m.channel_message_id, (select count(*) from outbox_message o where o.conversation_id = m.conversation_id) from message m where m.direction='inbound'")).all())
    stored = c.execute(sa.text("select count(*) from message where direction='inbound'")).scalar()
total = {i: answers[i] + outbox.get(f"SM{i:032d}", 0) for i in range(N)}
print(f"after restart: waiting {waiting}, sweep done {time.monotonic()-t0:.1f} s after restart; stored inbound {stored}/{N}")
print("answers per message:", {k: sum(1 for v in total.values() if v == k) for k in sorted(set(total.values()))})
os.kill(gw.pid, signal.SIGTERM); gw.wait()
raise SystemExit(0 if set(total.values()) == {1} else 1)
