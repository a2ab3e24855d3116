/** File extensions that folder walks treat as images (the CLI's folders, `--calibrate` photos); a file named directly is tried whatever its name. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp', '.avif', '.heic', '.heif']);
