/**
 * The statuses ecs-deploy reports, and the one place that decides which applies. Every path
 * of the step ends here, so the `status` output and the summary always say the same thing.
 */
export type DeployStatus =
  'succeeded' | 'failed' | 'rolled-back' | 'superseded' | 'refused' | 'unknown'

/** How a watched phase ended (a rollout, or the rollback after it). */
export type PhaseEnd = 'succeeded' | 'failed' | 'superseded' | 'unknown'

export interface StepFacts {
  /** A gate said no before anything changed. */
  refused: boolean
  /** A rollback took the service over before this step changed anything (rollback-mark.ts). */
  takenOver?: boolean
  /** dry-run: the plan was made, and nothing was changed on purpose. */
  planned?: boolean
  /** The service may have been changed by this step: an UpdateService was sent. */
  changeSent: boolean
  /** The update is known not to have happened (AWS refused it, or it read back as not made). */
  changeRejected: boolean
  /** The step stopped on an error it did not expect (after `changeSent`, nobody can tell). */
  unexpectedError: boolean
  /** `not-waited`: wait-for-service-stability is false. */
  rollout?: PhaseEnd | 'not-waited'
  /** The rollback after a failed rollout, by ECS or by this step; absent when none ran. */
  recovery?: PhaseEnd
}

export function decideStatus(facts: StepFacts): DeployStatus {
  if (facts.refused) return 'refused'
  if (facts.takenOver) return 'superseded'
  const changed = facts.changeSent && !facts.changeRejected
  if (facts.unexpectedError) return changed ? 'unknown' : 'failed'
  if (facts.planned) return 'succeeded'
  if (!changed || facts.rollout === undefined) return 'failed'
  switch (facts.rollout) {
    case 'succeeded':
    case 'not-waited':
      return 'succeeded'
    case 'superseded':
      return 'superseded'
    case 'unknown':
      return 'unknown'
    case 'failed':
      if (facts.recovery === 'succeeded') return 'rolled-back'
      if (facts.recovery === 'superseded') return 'superseded'
      if (facts.recovery === 'unknown') return 'unknown'
      return 'failed'
  }
}
