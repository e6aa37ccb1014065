/**
 * Reading a password without it ever touching argv (visible in `ps` and shell history): the first line
 * of a pipe, or typed into a terminal with echo off.
 */
import { StringDecoder } from 'node:string_decoder';
import { CLIError, type CLIInput } from './context.js';

/** More than any password may be (1024 characters, 4 bytes each); stops `cat bigfile |` early. */
const MAX_LINE_BYTES = 8192;

/** The first line of `input` without its line ending; null when the input is empty. */
export async function readFirstLine(input: CLIInput): Promise<string | null> {
  const decoder = new StringDecoder('utf8');
  let text = '';
  let bytes = 0;
  // Leaving the loop early destroys the stream, so a pipe's remaining lines keep nobody waiting.
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += buffer.length;
    text += decoder.write(buffer);
    const end = text.indexOf('\n');
    if (end !== -1) return withoutCR(text.slice(0, end));
    if (bytes > MAX_LINE_BYTES)
      throw new CLIError('the first line of standard input is too long for a password');
  }
  text += decoder.end();
  return text === '' ? null : withoutCR(text);
}

const withoutCR = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);

/** Asks on `write` (the terminal) and reads one line from a TTY without echoing it. */
export function promptHidden(
  input: CLIInput,
  write: (text: string) => void,
  question: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      write('\n');
      if (error === undefined) resolve(value);
      else reject(error);
    };
    const onData = (chunk: string | Buffer) => {
      for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        // Raw mode turns Ctrl-C into a character; honour it as the person meant it.
        if (char === '\u0003') return finish(new CLIError('cancelled', 130));
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
        else value += char;
      }
    };
    write(question);
    input.setRawMode?.(true);
    input.on('data', onData);
    input.resume();
  });
}
