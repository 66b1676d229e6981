/** Per-process figures from /proc (Linux), for the benches' per-hop rows. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function ticksOf(pid: number): number {
  try {
    // fields after "(comm)": state is field 3, utime 14 and stime 15 (man 5 proc)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** CPU time (µs) one process has used so far (all its threads), from /proc. */
export function processCpuMicros(pid: number): number {
  return ticksOf(pid) * TICK_US;
}

/** The same for a process and all its descendants (nginx's master and worker). */
export function treeCpuMicros(pid: number): number {
  return processCpuMicros(pid) + childrenOf(pid).reduce((sum, c) => sum + treeCpuMicros(c), 0);
}

/** Resident memory of a process, bytes (the figure `ps` and `top` show). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The same for a process and all its descendants. */
export function treeRssOf(pid: number): number {
  return rssOf(pid) + childrenOf(pid).reduce((sum, c) => sum + treeRssOf(c), 0);
}
