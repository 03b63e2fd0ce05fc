/**
 * The API's field errors in plain words. The platform validates with zod and answers its messages as they
 * are ("Too small: expected string to have >=1 characters"); the forms show a sentence that names the field
 * instead ("Type is required."). A message this does not recognise keeps its words, after the field's name.
 * Plain functions, no DOM: the tests run them in Node.
 *
 *   plainFieldError('Type', 'Too small: expected string to have >=1 characters')   // 'Type is required.'
 */

type Rule = [RegExp, (label: string, match: RegExpExecArray) => string];

const rules: Rule[] = [
  [/^Too small: expected string to have >=1 characters?$/i, (label) => `${label} is required.`],
  [/^Invalid input: expected \w+, received (undefined|null)$/i, (label) => `${label} is required.`],
  [/^Required$/i, (label) => `${label} is required.`],
  [/^Too small: expected string to have >=(\d+) characters?$/i, (label, m) => `${label} needs at least ${m[1]} characters.`],
  [/^Too big: expected string to have <=(\d+) characters?$/i, (label, m) => `${label} can be at most ${m[1]} characters.`],
  [/^Too small: expected array to have >=(\d+) items?$/i, (label, m) => `${label} needs at least ${m[1]}.`],
  [/^Too big: expected array to have <=(\d+) items?$/i, (label, m) => `${label} can have at most ${m[1]}.`],
  [/^Too small: expected number to be >=(\S+)$/i, (label, m) => `${label} must be ${m[1]} or more.`],
  [/^Too small: expected number to be >(\S+)$/i, (label, m) => `${label} must be more than ${m[1]}.`],
  [/^Too big: expected number to be <=(\S+)$/i, (label, m) => `${label} must be ${m[1]} or less.`],
  [/^Too big: expected number to be <(\S+)$/i, (label, m) => `${label} must be less than ${m[1]}.`],
  [/^Invalid input: expected int, received number$/i, (label) => `${label} must be a whole number.`],
  [/^Invalid input: expected (number|int), received \w+$/i, (label) => `${label} must be a number.`],
  [/^Invalid (email|email address)$/i, (label) => `${label} is not an email address.`],
  [/^Invalid option: expected one of (.+)$/i, (label, m) => `${label} must be one of ${m[1]!.replace(/"/g, '').split('|').join(', ')}.`],
];

/** One field error as a sentence that starts with the field's label. */
export function plainFieldError(label: string, message: string): string {
  const text = message.trim();
  for (const [pattern, say] of rules) {
    const match = pattern.exec(text);
    if (match) return say(label, match);
  }
  // Already a sentence of our own API ("at most 1d", "expected \"lat,lon\"…"): name the field before it.
  const sentence = text.charAt(0).toLowerCase() + text.slice(1);
  return `${label}: ${sentence}${/[.!?]$/.test(sentence) ? '' : '.'}`;
}

/** A label for an API path no form field shows: `body.forSeconds` → "For seconds", `tags.0` → "Tags". */
export function labelOfPath(path: string): string {
  const name = path.replace(/^(body|query|params)\.?/, '').split('.')[0] || path;
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
