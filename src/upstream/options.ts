export interface UpstreamTlsOptions {
  /** off: never STARTTLS; opportunistic: when offered; required: no TLS, no session. */
  mode: 'off' | 'opportunistic' | 'required';
  rejectUnauthorized: boolean;
  ca?: string | Buffer;
  /** SNI and certificate name; defaults to `host` unless that is an IP address. */
  servername?: string;
}

export interface UpstreamOptions {
  host: string;
  port: number;
  /** Our EHLO name. */
  localName: string;
  /** ms for the TCP connection, and again for the TLS handshake. */
  connectTimeout: number;
  /** ms for each reply (banner included) and for each stall while writing the message. */
  commandTimeout: number;
  /** ms for the reply after the final dot (RFC 5321 4.5.3.2.6: 10 minutes). */
  dataTimeout: number;
  tls: UpstreamTlsOptions;
  /** Send messages with BDAT when the upstream offers CHUNKING (upstream.chunking: auto). */
  chunking?: boolean;
  /** Aborting closes the connection; whatever is pending rejects with UpstreamClosedError. */
  signal?: AbortSignal;
}
