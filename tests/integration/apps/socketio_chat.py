"""A Flask-SocketIO chat room on async_mode='gevent_uwsgi' (engineio's driver over uWSGI's
websocket API, with request_context= so any greenlet sends)."""
from flask import Flask
from flask_socketio import SocketIO, emit, join_room

app = Flask(__name__)
socketio = SocketIO(app, async_mode='gevent_uwsgi')


@socketio.on('join')
def on_join(data):
    join_room(data['room'])
    emit('joined', {'room': data['room']})


@socketio.on('say')
def on_say(data):
    emit('said', {'who': data['who'], 'text': data['text']}, to=data['room'])


@app.route('/')
def index():
    return 'chat'
