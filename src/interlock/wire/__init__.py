"""Sans-IO MySQL/MariaDB wire protocol: bytes in, events out (no asyncio, no sockets).

Modules: ``errors`` (ProtocolError and subclasses), ``constants`` (Capability, ServerStatus,
Command, ErrorCode, SUPPORTED_CAPABILITIES), ``codec`` (length-encoded values, Reader),
``framing`` (encode_packet, PacketBuffer), ``packets`` (OK/ERR/EOF, session state),
``handshake`` (connection phase and COM_CHANGE_USER), ``auth`` (mysql_native_password) and
``response`` (ResponseTracker, the relay's per-packet bookkeeping).  Import from the modules.
"""
