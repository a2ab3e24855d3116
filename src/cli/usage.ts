/**
 * The command's help: the whole usage, one command's part of it
 * (`resnet-serve classify --help`), and the options a mistyped one was
 * probably meant to be.
 */
import { OPTIONS, environmentName } from './args.js';
import { closestNames } from '../similar-names.js';

/** The whole usage, as `resnet-serve --help` prints it. */
export const USAGE = `Usage: resnet-serve <command> [options]

Commands:
  classify <files or folders…>   classify images (folders are walked recursively; - is a photo piped in)
      --top-k N                  how many labels per image (default 3)
      --lang en|zh|both          label language (default en)
      --json                     one JSON object per line instead of a table
      --head FILE                answer with your own classes (a head from train)
      --reject on|off            with a head: answer "unknown" for photos unlike its training photos (default on)
      --explain DIR              also write where the model looked: DIR/<file>.png (the 224 crop it saw)
                                 and DIR/<file>.photo.png (the photo), heatmaps of the top answer (the head's, with --head)
      --class NAME|INDEX         with --explain: where it looked for this class instead (tabby, 虎斑猫, 281)
  train <folder> --out FILE      teach your own classes: one subfolder of photos per class
      --cv N | --holdout F       how accuracy is measured (default --cv 5)
      --reject on|off            learn "unknown" (default on)
      --reject-rate F            share of photos like the training ones allowed to be "unknown" (default 0.03)
      --name NAME                the head's name (default: the folder's name)
  embed <files or folders…>      the embedding of each image (the input of the model's final layer; - is a photo piped in)
      --json                     {file, dim, embedding} per line
  serve                          serve the HTTP API and the web page
      --port N                   port (default 8080, or $PORT)
      --host ADDR                address (default 127.0.0.1, or $HOST; 0.0.0.0 for all)
      --workers N                preprocessing threads (default: half the CPUs available)
      --max-upload-mb N          largest upload (default 20)
      --max-files N              most files per request (default 32)
      --timeout-ms N             request deadline (default 30000)
      --headers-timeout-ms N     time to send the request headers (default 10000)
      --body-timeout-ms N        time to send the whole request (default 60000)
      --keep-alive-ms N          how long an idle connection stays open (default 5000; above
                                 a load balancer's idle timeout behind one)
      --max-batch N              most images per inference batch (default 16)
      --batch-wait-us N          how long a partial batch waits for more (default 0; a full one goes at once)
      --max-queue N              most images in progress; then 503 (default 64; a photo answered
                                 with a head counts as two: it and its mirror image)
      --max-inflight-mb N        request bodies held in memory at once; then 503 (default 128)
      --grace-period-ms N        on SIGTERM, how long to finish requests (default 10000)
      --api-key-file FILE        require "Authorization: Bearer <key>" with the key read from FILE
                                 (health checks and the page stay open; /metrics needs the key too,
                                 unless --api-key-for changes);
                                 or set RESNET_SERVE_API_KEY.
                                 --api-key KEY also works, but shows the key in the process list
      --api-key-for WHAT         all (default): every route needs the key; changes: only making,
                                 teaching, training and deleting heads do (anyone may recognise
                                 photos, use and download the heads, see their photos and read
                                 /metrics: a classroom); a wrong key sent anywhere is still refused
      --cors-origin LIST         comma-separated origins allowed to call the API from browsers (default none)
      --log                      log requests as JSON lines (never image bytes or keys)
      --head [NAME=]FILE         answer with a trained head too (?head=NAME, /v2/models/NAME; NAME: the
                                 file's name without .json when not given); repeatable
      --library DIR              show a tagged photo library in the page (read-only; --db FILE for its index)
  tag <folders…>                 tag a photo library: SQLite index, optional XMP sidecars; a second run
                                 handles only what changed (new, edited, moved and deleted photos)
      --top-k N                  labels per photo (default 5, at most 50)
      --min-score P              drop labels and categories below this probability,
                                 except the best of each (default 0.1)
      --lang en|zh|both          keyword language (default both)
      --xmp                      write sidecars, merged into any other tool's (default IMG_1.jpg.xmp)
      --xmp-name append|replace  IMG_1.jpg.xmp (append, default) or IMG_1.xmp (replace); an existing one is used
      --db PATH                  the index (default <first folder>/.resnet-serve/tags.sqlite)
      --jobs N                   images decoded in parallel (default: half the CPUs)
      --labels FILE              your own category mapping (format of data/categories.json)
      --retag                    run the model on every photo again
  search <words…>                photos matching every word (English or Chinese, plurals and
                                 everyday words too: car, beach, 海滩), best first
      --like PHOTO               the photos most like PHOTO instead
      --limit N                  how many (default 20)
      --library DIR | --db PATH  which index (default: the current folder's)
      --lang en|zh|both          language of the tags shown (default: that of the words)
      --json                     one JSON object per line
  dupes                          groups of exact and near duplicates (resized, recompressed,
                                 slightly cropped, rotated), largest first; never deletes
      --threshold F              how alike near duplicates must be (default 0.93)
      --library DIR | --db PATH  which index (default: the current folder's)
      --json                     one JSON object per group and line
  export                         the index, to stdout
      --format json|jsonl|csv    one JSON array (default), JSON lines, or CSV
      --library DIR | --db PATH  which index (default: the current folder's)
  fetch-model                    download and verify the weights ahead of time
  info                           show the model, its source, hash, cache and runtime

Every option can also be set as an environment variable: --max-batch 8 is
RESNET_SERVE_MAX_BATCH=8 (the command line wins).

Model options (every command that runs the model, all but dupes and export):
  --model NAME|FILE              resnet18 (default), resnet34, resnet50, resnet101, resnet152,
                                 or a .pth state_dict or an ImageNet .onnx file
  --threads N                    ONNX Runtime threads (default: the CPUs available)
  --preprocess fast|exact        fast (default): large images decoded at reduced scale;
                                 exact: torchvision + Pillow reproduced to the float
  --precision fp32|int8          fp32 (default): PyTorch's numbers; int8: inference 1.5-3.5x as fast,
                                 same top-1 on ~98% of photos (quantised once, then cached)
  --calibrate DIR                with int8: a few dozen photos like yours to calibrate on
                                 (default: a built-in set; at most 256 are used)
  --offline                      never download weights
  --max-pixels N                 largest decoded image (default 50000000; AVIF/HEIF count 3x)
  --max-decode-ms N              longest one image may take to decode (default 10000; libvips counts
                                 whole seconds, so it is rounded up to one)
  --startup-timeout-ms N         longest an ONNX file may take to open and run once (default 120000)

Options for every command:
  -h, --help                     show this help
  --version                      show the version
`;

const COMMAND_LINE = /^ {2}(\S+)/;

/**
 * The usage of one command: its line and options, then the options every
 * command takes. An unknown or missing command gets the whole usage.
 */
export function usageOf(command: string | undefined): string {
  const lines = USAGE.split('\n');
  const start = lines.findIndex((l) => COMMAND_LINE.exec(l)?.[1] === command);
  if (command === undefined || start < 0) return USAGE;
  let end = start + 1;
  while (end < lines.length && /^ {4}/.test(lines[end])) end++;
  const modelStart = lines.findIndex((l) => l.startsWith('Model options'));
  const common = lines.indexOf('Options for every command:');
  const model = WITHOUT_MODEL.has(command) ? [] : lines.slice(modelStart, common);
  // The environment example uses one of this command's own options.
  const first = lines.slice(start + 1, end).map((l) => /^ {6}--([a-z0-9-]+)(?: (\S+))?/.exec(l)).find((m) => m && m[1] !== 'json' && m[2]);
  const [option, value] = first ? [first[1], first[2].split(/[|]/)[0]] : ['model', 'FILE'];
  const environment = `Every option can also be set as an environment variable: --${option} ${value} is\nRESNET_SERVE_${option.toUpperCase().replace(/-/g, '_')}=${value} (the command line wins).`;
  return [`Usage: resnet-serve ${lines[start].trim().split(/\s{2,}/)[0]} [options]`, '', ...lines.slice(start, end), '', ...model, ...lines.slice(common), environment].join('\n').replace(/\n+$/, '\n') + '\n';
}

/** Commands that read an index and never run the model: the model options are not theirs. */
const WITHOUT_MODEL = new Set(['dupes', 'export']);

/** The commands, in the order of the usage. */
export const COMMANDS: readonly string[] = USAGE.split('\n').flatMap((l) => (/^ {2}[a-z]/.test(l) ? [COMMAND_LINE.exec(l)![1]] : []));

/** The options `command` takes (its own and every command's); every option when the command is not known. */
export function optionsOf(command: string | undefined): string[] {
  if (command === undefined || !COMMANDS.includes(command)) return Object.keys(OPTIONS);
  // The command's part of the usage and the options every command takes (not the note on environment variables).
  const text = usageOf(command).split('\nEvery option can also be set')[0];
  const named = new Set([...text.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]));
  return Object.keys(OPTIONS).filter((option) => named.has(option));
}

/**
 * The options `given` (e.g. `--topk`, `--top-kk`) was probably meant to be,
 * closest first, among those `command` takes; none when nothing is close.
 */
export function similarOptions(given: string, command?: string): string[] {
  return closestNames(given.replace(/^-+/, ''), optionsOf(command)).map((option) => `--${option}`);
}

/** The commands `given` (e.g. `classfy`) was probably meant to be. */
export function similarCommands(given: string): string[] {
  return closestNames(given, COMMANDS);
}

/** Our variables that are not options: the cache folder, the weights' address, the JPEG decoder and the like (README). */
const OTHER_VARIABLES = ['HOME', 'WEIGHTS_URL', 'OFFLINE', 'IN_CONTAINER', 'NO_NATIVE_JPEG', 'NO_SIMD', 'RESTRICT_LOADERS', 'BUILD_PROCESS', 'SHARED'].map((v) => `RESNET_SERVE_${v}`);

/** What Kubernetes sets for a Service named resnet-serve (`RESNET_SERVE_PORT=tcp://…` is told apart by its value). */
const SERVICE_LINKS = /^RESNET_SERVE_(SERVICE_(HOST|PORT)(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$/;

/**
 * A warning for each RESNET_SERVE_* variable that is no setting of ours (a
 * typo in a ConfigMap: `RESNET_SERVE_MAX_UPLAOD_MB`), with the names it was
 * probably meant to be. Warned, not refused: the environment is shared with
 * other tools.
 */
export function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const known = [...Object.keys(OPTIONS).filter((o) => o !== 'help' && o !== 'version').map(environmentName), ...OTHER_VARIABLES];
  const suffix = (v: string): string => v.slice('RESNET_SERVE_'.length).toLowerCase();
  return Object.keys(env)
    .filter((name) => name.startsWith('RESNET_SERVE_') && !known.includes(name) && !SERVICE_LINKS.test(name))
    .sort()
    .map((name) => {
      const like = closestNames(suffix(name), known.map(suffix)).map((v) => `RESNET_SERVE_${v.toUpperCase()}`);
      return `${name} is not a setting of resnet-serve, so it is ignored${like.length ? ` (did you mean ${like.join(' or ')}?)` : ''}`;
    });
}

