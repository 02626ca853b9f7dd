// How numbers read to people: 12,408 rows, 3.4 MB, 8.1 MB/s.

const grouped = new Intl.NumberFormat("en-US");

export function count(n) {
  return grouped.format(n);
}

export function bytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = n;
  let unit = -1;
  do {
    value /= 1000;
    unit += 1;
  } while (value >= 1000 && unit < units.length - 1);
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export function plural(n, one, many) {
  return `${count(n)} ${n === 1 ? one : many}`;
}
