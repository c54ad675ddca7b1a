// The /ui/api/ shapes, from the one module the gateway's src/ui/ answers with.
export type * from '../../ui/apiTypes.js';
