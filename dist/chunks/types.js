/** The environment variables every backend hands to training (DESIGN: never interpolated into commands). */
function trainingEnv(ctx) {
    return {
        ML_PROMOTE_ENVIRONMENT: ctx.environment,
        ML_PROMOTE_MODEL: ctx.model,
        ML_PROMOTE_SHA: ctx.sha,
        ML_PROMOTE_REF: ctx.ref,
        ML_PROMOTE_RUN_ID: ctx.runId,
        ML_PROMOTE_OUTPUT_DIR: ctx.outputDir
    };
}
/** A training failure the user can act on; carries the remote run's URL where there is one. */
class TrainingError extends Error {
    run;
    detail;
    constructor(message, run, detail) {
        super(message);
        this.run = run;
        this.detail = detail;
        this.name = 'TrainingError';
    }
}

export { TrainingError as T, trainingEnv as t };
//# sourceMappingURL=types.js.map
