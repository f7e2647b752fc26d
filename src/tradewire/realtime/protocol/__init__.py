"""The wire protocols, as pure functions with no I/O: Engine.IO 4 (`eio`) and Socket.IO 5
(`sio`). Written from socketio/engine.io-protocol and socketio/socket.io-protocol."""
