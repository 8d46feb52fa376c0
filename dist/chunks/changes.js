/** GitHub lists at most this many files of a pull request. */
const PULL_FILES_CAP = 3000;
/** A comparison lists at most this many files, all on its first page. */
const COMPARE_FILES_CAP = 300;
/* eslint-disable @typescript-eslint/no-explicit-any -- event payloads are GitHub's untyped JSON */
/**
 * The files a pull request or push changed (a rename counts both names), or undefined when that
 * cannot be known exactly: other events, forced pushes, new branches, lists GitHub truncates.
 */
async function changedFiles(octokit, repo, event, log) {
    const { name, payload } = event;
    if (name === 'pull_request' || name === 'pull_request_target') {
        return pullFiles(octokit, repo, Number(payload?.pull_request?.number), log);
    }
    if (name === 'push')
        return pushFiles(octokit, repo, payload, log);
    return undefined;
}
async function pullFiles(octokit, repo, pullNumber, log) {
    const files = await octokit.paginate(octokit.rest.pulls.listFiles, {
        ...repo,
        pull_number: pullNumber,
        per_page: 100
    });
    if (files.length >= PULL_FILES_CAP) {
        log.info(`pull request #${pullNumber} changes ${PULL_FILES_CAP} files or more, more than GitHub lists; treating every model as changed`);
        return undefined;
    }
    return names(files);
}
async function pushFiles(octokit, repo, payload, log) {
    const before = String(payload?.before ?? '');
    const after = String(payload?.after ?? '');
    if (/^0+$/.test(after)) {
        log.info('push deleted the branch: no files changed');
        return [];
    }
    if (payload?.forced) {
        log.info('forced push: the previous head may be gone, so every model is treated as changed');
        return undefined;
    }
    if (!before || /^0+$/.test(before)) {
        log.info('push created the branch: there is no previous head to compare with, so every model is treated as changed');
        return undefined;
    }
    // The comparison lists its files on the first page only (up to 300 for the whole comparison);
    // later pages page through commits, so one request is all there is to read.
    let files;
    try {
        const { data } = await octokit.rest.repos.compareCommitsWithBasehead({
            ...repo,
            basehead: `${before}...${after}`
        });
        files = data.files;
    }
    catch (e) {
        if (e.status !== 404)
            throw e;
        log.info(`cannot compare ${before.slice(0, 7)}...${after.slice(0, 7)} (not found); treating every model as changed`);
        return undefined;
    }
    if (!files) {
        log.info('the comparison lists no files; treating every model as changed');
        return undefined;
    }
    if (files.length >= COMPARE_FILES_CAP) {
        log.info(`push changes ${COMPARE_FILES_CAP} files or more, more than a GitHub comparison lists; treating every model as changed`);
        return undefined;
    }
    return names(files);
}
function names(files) {
    return [
        ...new Set(files.flatMap((f) => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename])))
    ];
}
/** The text of `path` at `ref`, or undefined when it does not exist there. */
async function readFileAt(octokit, repo, ref, path) {
    let data;
    try {
        ;
        ({ data } = await octokit.rest.repos.getContent({ ...repo, ref, path }));
    }
    catch (e) {
        if (e.status === 404)
            return undefined;
        throw e;
    }
    const file = data;
    if (Array.isArray(data) || file.type !== 'file') {
        throw new Error(`${path} at ${ref} is not a file`);
    }
    if (file.encoding !== 'base64' || typeof file.content !== 'string') {
        // Above 1 MB the contents API returns no content; a config file is never that large.
        throw new Error(`${path} at ${ref} is too large to read through the contents API (${file.size ?? '?'} bytes)`);
    }
    return Buffer.from(file.content, 'base64').toString('utf8');
}
/** True for a pull request from another repository (or from one since deleted). */
function isForkPull(payload) {
    const pr = payload?.pull_request;
    if (!pr)
        return false;
    const head = pr.head?.repo;
    if (!head)
        return true;
    return head.full_name !== pr.base?.repo?.full_name;
}

export { COMPARE_FILES_CAP, PULL_FILES_CAP, changedFiles, isForkPull, readFileAt };
//# sourceMappingURL=changes.js.map
