"""A Flask app that echoes request.get_data() (Werkzeug reads a chunked body only when the server
sets wsgi.input_terminated)."""
from flask import Flask, request

app = Flask(__name__)


@app.route('/upload', methods=['POST'])
def upload():
    data = request.get_data()
    return b'%d:' % len(data) + data
