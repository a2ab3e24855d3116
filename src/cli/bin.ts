#!/usr/bin/env node
/** Entry of the `resnet-serve` executable. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
