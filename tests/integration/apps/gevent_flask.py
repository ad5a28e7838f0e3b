"""A Flask app (Debian's python3-flask) served by the gevent loop engine."""
import gevent
from flask import Flask, Response

app = Flask(__name__)


@app.route('/')
def index():
    gevent.sleep(0.3)
    return 'flask ok'


@app.route('/stream')
def stream():
    def gen():
        yield 'a\n'
        gevent.sleep(0.1)
        yield 'b\n'
    return Response(gen(), mimetype='text/plain')


application = app
