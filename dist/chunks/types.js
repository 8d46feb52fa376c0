function trainingEnv(r){return{ML_PROMOTE_ENVIRONMENT:r.environment,ML_PROMOTE_MODEL:r.model,ML_PROMOTE_SHA:r.sha,ML_PROMOTE_REF:r.ref,ML_PROMOTE_RUN_ID:r.runId,ML_PROMOTE_OUTPUT_DIR:r.outputDir}}class TrainingError extends Error{run;detail;constructor(r,n,i){super(r),this.run=n,this.detail=i,this.name="TrainingError"}}export{TrainingError as T,trainingEnv as t};
//# sourceMappingURL=types.js.map
