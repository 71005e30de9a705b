/** Bumped whenever parsing changes what it extracts (a reprocess of PARSE then has work to do). */
export const PARSER_VERSION = "parse-3";
/** Bumped whenever chunking changes (a reprocess of EMBED then has work to do). */
export const CHUNKER_VERSION = "chunk-1";
