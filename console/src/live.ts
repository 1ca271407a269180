// Small hooks over the SDK's live streams: every view subscribes, none polls.

import { useEffect, useState } from "preact/hooks";
import type { Client, Event } from "../../sdks/typescript/src/index.js";

/** Runs `consume` over an async iterable for as long as the component lives. */
export function useStream<T>(make: () => AsyncGenerator<T> | undefined, consume: (item: T) => void, deps: unknown[]) {
  useEffect(() => {
    const stream = make();
    if (!stream) return;
    let stopped = false;
    void (async () => {
      try {
        for await (const item of stream) {
          if (stopped) break;
          consume(item);
        }
      } catch (error) {
        if (!stopped) console.warn("stream ended", error);
      }
    })();
    return () => {
      stopped = true;
      void stream.return(undefined);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

/** A counter that moves whenever an event of these families happens: views re-read on it. */
export function useChanges(client: Client, families: string[], filter?: (e: Event) => boolean): number {
  const [version, setVersion] = useState(0);
  useStream(
    () => client.events({ families }),
    (event) => {
      if (!filter || filter(event)) setVersion((v) => v + 1);
    },
    [client, families.join(",")],
  );
  return version;
}

/** An async read, redone when `deps` change. */
export function useRead<T>(read: () => Promise<T>, deps: unknown[]): { value?: T; error?: string } {
  const [state, setState] = useState<{ value?: T; error?: string }>({});
  useEffect(() => {
    let current = true;
    read().then(
      (value) => current && setState({ value }),
      (error: unknown) => current && setState({ error: error instanceof Error ? error.message : String(error) }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

export function ago(stamp: string | null | undefined): string {
  if (!stamp) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(stamp)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}
