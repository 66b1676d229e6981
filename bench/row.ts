/** One line of a benchmark table. */
export interface Row {
  name: string;
  value: number;
  unit: string;
  /** what it is compared with in the same run, e.g. "nginx chain (0.84x)" */
  baseline?: string;
  goal?: string;
}
