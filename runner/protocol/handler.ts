// The seam between the protocol layer (frames, tokens, connections) and the host (plugin
// chains). The protocol layer knows nothing about plugins or MCP; the host knows nothing
// about FlatBuffers. `C` is the host's compiled chain, opaque to the protocol layer.

import type {
  ExtraInfoReq,
  ExtraInfoResp,
  HTTPReqCallReq,
  HTTPReqCallResp,
  HTTPRespCallReq,
  HTTPRespCallResp,
  TextEntry,
} from './messages.js';

/** Asks APISIX for data on the connection the call arrived on (one question at a time). */
export interface ExtraInfoChannel {
  ask(question: ExtraInfoReq): Promise<ExtraInfoResp>;
}

export interface CallHost<C> {
  /**
   * Build (or reuse) the chain for a PrepareConf. Must be fast and must not throw: a bad
   * conf yields a chain that fails closed at call time (docs/ext-plugin-protocol.md §4.1.5).
   */
  buildChain(conf: readonly TextEntry[], key: string): C;
  /** Run the request phase. Never rejects: failures become a Stop answer. */
  onRequest(chain: C, call: HTTPReqCallReq, extra: ExtraInfoChannel, deadline: number): Promise<HTTPReqCallResp>;
  /** Run the response phase. Never rejects: failures become a 5xx answer with full headers. */
  onResponse(chain: C, call: HTTPRespCallReq, extra: ExtraInfoChannel, deadline: number): Promise<HTTPRespCallResp>;
  /** Flush plugins (audit buffers, store connections) on shutdown. */
  shutdown(): Promise<void>;
}
