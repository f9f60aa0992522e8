// Placeholder until the five plugins' confs are wired (filled in by the realistic scenario).
import type { Scenario } from './scenarios.js';
export async function realisticSetup(_dir: string): Promise<{ list: Scenario[]; env: Record<string, string>; close(): Promise<void> }> {
  return { list: [], env: {}, close: async () => undefined };
}
