import { fitText } from './github.js';
import 'fs';
import 'os';
import 'http';
import 'https';
import './index.js';
import 'net';
import 'tls';
import 'events';
import 'assert';
import 'util';
import 'node:assert';
import 'node:net';
import 'node:http';
import 'node:stream';
import 'node:buffer';
import 'node:util';
import 'node:querystring';
import 'node:events';
import 'node:diagnostics_channel';
import 'node:tls';
import 'node:zlib';
import 'node:perf_hooks';
import 'node:util/types';
import 'node:worker_threads';
import 'node:url';
import 'node:async_hooks';
import 'node:console';
import 'node:dns';
import 'string_decoder';

// The sticky pull request comment: one comment per PR, edited in place by every run, with one
// section per model so a run that gates some models keeps what earlier runs said about the others.
const COMMENT_MARKER = '<!-- ml-promote:sticky -->';
/** GitHub rejects comment bodies of 65536 characters or more. */
const COMMENT_LIMIT = 65535;
const TRUNCATED = '\n\n---\n_Truncated: the report is longer than a pull request comment can hold; the full report is in the job summary._';
const open = (model) => `<!-- ml-promote:model:${model} -->`;
const close = (model) => `<!-- /ml-promote:model:${model} -->`;
const SECTION = /<!-- ml-promote:model:([A-Za-z0-9][A-Za-z0-9._-]*) -->\n?([\s\S]*?)\n?<!-- \/ml-promote:model:\1 -->/g;
/** The model sections of a comment body, by model. A section cut off by truncation is dropped. */
function parseSections(body) {
    const sections = {};
    for (const m of (body ?? '').matchAll(SECTION))
        sections[m[1]] = m[2];
    return sections;
}
/** The sections of `previous` updated with `sections`, every model in name order. */
function mergeSections(previous, sections) {
    const merged = { ...parseSections(previous), ...sections };
    return Object.keys(merged)
        .sort()
        .map((model) => `${open(model)}\n${merged[model].replace(/^\n+|\n+$/g, '')}\n${close(model)}`)
        .join('\n\n');
}
/**
 * Creates or edits the PR's ml-promote comment (found by its marker). When `body` holds model
 * sections, the sections already in the comment for other models are kept; `header` goes on top.
 */
async function upsertStickyComment(octokit, repo, issueNumber, body, header) {
    const existing = await findSticky(octokit, repo, issueNumber);
    const sections = parseSections(body);
    const content = Object.keys(sections).length
        ? [body.replace(SECTION, '').trim(), mergeSections(existing?.body, sections)]
        : [
            body.startsWith(COMMENT_MARKER)
                ? body.slice(COMMENT_MARKER.length).replace(/^\n/, '')
                : body
        ];
    const full = fitText([COMMENT_MARKER, header?.trim(), ...content].filter((part) => part).join('\n\n'), COMMENT_LIMIT, TRUNCATED);
    if (!existing) {
        const { data } = await octokit.rest.issues.createComment({
            ...repo,
            issue_number: issueNumber,
            body: full
        });
        return { id: data.id, created: true };
    }
    if (existing.body !== full) {
        await octokit.rest.issues.updateComment({ ...repo, comment_id: existing.id, body: full });
    }
    return { id: existing.id, created: false };
}
async function findSticky(octokit, repo, issueNumber) {
    const pages = octokit.paginate.iterator(octokit.rest.issues.listComments, {
        ...repo,
        issue_number: issueNumber,
        per_page: 100
    });
    for await (const { data } of pages) {
        // Only a body that starts with the marker is ours: someone quoting it starts with "> ".
        const ours = data.find((c) => c.body?.trimStart().startsWith(COMMENT_MARKER));
        if (ours)
            return { id: ours.id, body: ours.body ?? '' };
    }
    return undefined;
}

export { COMMENT_LIMIT, COMMENT_MARKER, mergeSections, parseSections, upsertStickyComment };
//# sourceMappingURL=comment.js.map
