// Errors the SDK raises: what failed, and the node's own words.

export class SpawnError extends Error {
  override name = 'SpawnError';
  constructor(
    message: string,
    /** 'OK' | 'ACTOR_NOT_FOUND' | 'ERROR' | 'UNKNOWN' | 'TRANSPORT' */
    readonly status: string,
    /** HTTP status of the node's answer (0 when it never answered). */
    readonly httpStatus: number,
  ) {
    super(message);
  }
}
