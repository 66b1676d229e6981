/**
 * The header in which a renewal names the CA files its bot already holds (the caFingerprint of an
 * earlier answer): the gate then leaves them out of the answer unless they changed. Shared by the
 * gate's route and the agent, which must not import the server side.
 */
export const CA_FINGERPRINT_HEADER = 'x-tapgate-ca-fingerprint';
